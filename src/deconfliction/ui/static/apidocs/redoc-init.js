// Redoc on the service's own OpenAPI document, with the fonts of this machine (no web fonts).
const el = document.getElementById("redoc");
Redoc.init(el.dataset.spec, { hideDownloadButton: false, disableSearch: false }, el);
