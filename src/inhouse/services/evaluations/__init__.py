"""Evaluations: measure candidate models on a dataset, weigh quality against cost, recommend one.

candidates.py (result rows -> Candidate), pareto.py (Pareto fronts), recommend.py (the recommendation and its
paragraph), plots.py (the front as PNG/SVG) are pure functions over Candidate rows.
"""
