"""The app lifecycle: `.gin` packages, install / upgrade / rollback / remove, backups, the audit log and the
operator apps API (docs/deploy.md).

- `rules`: the `.gpkg` (what a package holds) and `.gup` (what an upgrade keeps) glob rules.
- `package`: pack an app folder; open and verify a package before anything is written.
- `plan`: what an operation would add, overwrite, keep and delete.
- `switch`: the on-disk swap of an app folder, journalled so a killed process leaves old or new, never a mix.
- `operations`: install, upgrade, rollback, remove and backups, on disk and (given a live Project) in place.
- `audit`: one JSON line per operation in `logs/audit.jsonl`.
- `http`: `/_gingee/api/apps` and `/_gingee/api/audit` on `gingee serve`; `client`: the deploy client.
"""
