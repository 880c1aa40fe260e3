"""HTTP/JSON gateway for partner apps, and the partner webhooks it delivers."""
