"""Business rules. No request, flash or templates here; every function takes an explicit actor."""
