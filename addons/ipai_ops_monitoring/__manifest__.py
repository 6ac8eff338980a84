{
    "name": "ipai ops: monitoring",
    "summary": "Health checks, metrics, incidents and alerts for environments",
    "version": "18.0.1.0.0",
    "category": "Technical",
    "license": "LGPL-3",
    "author": "ipai ops",
    "website": "https://github.com/ipai-ops/ipai-ops",
    "depends": ["ipai_ops_core"],
    "data": [
        "security/ir.model.access.csv",
        "security/ops_monitoring_rules.xml",
        "views/ops_health_check_views.xml",
    ],
    "installable": True,
}
