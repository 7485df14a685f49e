"""Evaluations: measure candidate models on a dataset, weigh quality against cost, recommend one.

candidates.py (result rows -> Candidate, leaderboard order), pareto.py (Pareto fronts), recommend.py (the
recommendation and its paragraph), plots.py (the front as PNG/SVG) and display.py (numbers and metric names in
words) are pure functions over Candidate rows.
"""
