from . import test_channel_secret
