"""Durations as people read them: "11.5 s", "3 min 20 s", "1 h 02 min".
Odoo has no seconds widget (float_time is hours:minutes), so the models
that keep a duration in seconds also offer it this way for their views;
the number itself stays for the API and for sorting."""


def human(seconds):
    """``seconds`` (a number, or False/None) as a short text; "" when there is none."""
    if seconds is None or seconds is False:
        return ""
    seconds = max(float(seconds), 0.0)
    if round(seconds, 1) < 60:
        return "%.1f s" % seconds
    whole = round(seconds)
    if whole < 3600:
        return "%d min %02d s" % divmod(whole, 60)
    hours, minutes = divmod(round(seconds / 60), 60)
    return "%d h %02d min" % (hours, minutes)
