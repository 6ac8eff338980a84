{
    "name": "ipai ops: Connect (loaded server-wide by the platform)",
    "summary": "Single-use login links issued by the ipai ops control plane",
    "version": "1.0.0",  # no series: the same addon is loaded into environments of 17.0, 18.0 and 19.0
    "category": "Hidden",
    "license": "LGPL-3",
    "author": "ipai ops",
    "depends": ["base", "web"],
    "installable": True,
    "auto_install": False,
}
