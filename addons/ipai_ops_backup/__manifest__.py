{
    "name": "ipai ops: backups",
    "summary": "Backups of environments (database, filestore, manifest), retention, restores",
    "version": "18.0.1.5.0",
    "category": "Technical",
    "license": "LGPL-3",
    "author": "ipai ops",
    "website": "https://github.com/ipai-ops/ipai-ops",
    "depends": ["ipai_ops_core", "mail"],
    "external_dependencies": {"bin": ["pg_dump", "pg_restore", "psql", "tar"]},
    "data": [
        "security/ir.model.access.csv",
        "security/ops_backup_rules.xml",
        "data/ops_backup_cron_data.xml",
        "data/ops_backup_server_actions.xml",
        "views/ops_backup_views.xml",
    ],
}
