"""What the content modules (html, image, pdf, zip, qrcode, chart) share: their errors, their optional
extras, their limits from app.json, reading and writing confined files and storage objects, CPU work in a
bounded thread pool within the request budget, and bytes that show themselves in a notebook."""
