"""The web page and HTTP API (``pip install 'huenet[serve]'``)."""
