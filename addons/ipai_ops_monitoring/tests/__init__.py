from . import (
    test_alert_rules,
    test_channel_secret,
    test_collection,
    test_monitoring_tour,
    test_overview_incidents,
    test_retention,
)
