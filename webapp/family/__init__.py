"""Family self-service: a student's parent code, parents linking to children with it, the
parent dashboard with each child's PIN, and recovering a forgotten password.

The pages live in the self_service and auth blueprints; the rules live here.
"""
