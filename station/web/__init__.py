"""The plant's read-only web view (docs/architecture.md section 7a), served by the
collector (`station plant --http HOST:PORT`) in its own event loop.

- `board`: the andon board's model, the stored events folded into station tiles, held
  vehicles and today's counters (pure);
- `live`: the web view's own connection to the plant database, in a thread of its own,
  feeding the board as the collector commits;
- `reading`: the reads the store does not offer (yet), through its connection helpers;
- `figures`: throughput, lead time, first-pass yield and state time from stored events;
- `theme`: the console's state colours as CSS;
- `app`: the Starlette pages, the server-sent events, the security headers;
- `server`: uvicorn in the collector's loop (`WebView`);
- `templates/` (Jinja2, autoescaped) and `static/` (our own CSS and JavaScript: no CDN,
  nothing fetched at run time).
"""
