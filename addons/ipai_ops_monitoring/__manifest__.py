{
    "name": "ipai ops: monitoring",
    "summary": "Metrics, incidents, alerts and a Prometheus endpoint for environments",
    "version": "18.0.1.3.0",
    "category": "Technical",
    "license": "LGPL-3",
    "author": "ipai ops",
    "website": "https://github.com/ipai-ops/ipai-ops",
    "depends": ["ipai_ops_core", "mail"],
    "external_dependencies": {"python": ["docker", "prometheus_client", "psycopg2", "requests"]},
    "data": [
        "security/ir.model.access.csv",
        "security/ops_monitoring_rules.xml",
        "data/ops_monitoring_cron_data.xml",
        "data/ops_alert_rule_data.xml",
        "views/ops_incident_views.xml",
        "views/ops_alert_views.xml",
        "views/ops_fleet_views.xml",
        "views/ops_environment_views.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "ipai_ops_monitoring/static/src/env_metrics/*",
            "ipai_ops_monitoring/static/src/sparkline/*",
        ],
        "web.assets_tests": [
            "ipai_ops_monitoring/static/tests/tours/*",
        ],
    },
}
