"""HTTP/JSON gateway for partner apps: the platform's RPCs as REST, served from their annotations."""
