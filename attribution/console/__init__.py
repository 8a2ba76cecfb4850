"""The finance console: server-rendered pages over the same report functions the API serves.

Sign in with an API key; the browser then holds only a signed, HttpOnly, SameSite=Strict session cookie
(never the key). Pages: a period's overview, tenants (with a drill-down to tier, pool and day), context
tiers, pools, coverage and periods (close, download statements). Charts are inline SVG drawn on the
server from the same rounded cents as the tables beside them; every asset is served by the package.
"""

# the page modules register their routes on ``router`` when imported
from attribution.console import actions, docs, pages
from attribution.console.web import install_secret, router

router.include_router(docs.router)

__all__ = ["actions", "docs", "install_secret", "pages", "router"]
