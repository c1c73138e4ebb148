"""Web plumbing shared by the blueprints: htmx helpers, guards, errors, headers, sessions."""
