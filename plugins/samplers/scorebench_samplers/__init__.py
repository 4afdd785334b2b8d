"""scorebench-samplers: samplers for score-based models beyond annealed Langevin dynamics.

Consistent annealed sampling, the predictor-corrector samplers of score SDEs, the EDM
probability-flow and stochastic samplers, and DPM-Solver++(2M); the Karras noise grid; and an
analytic digits mixture with an exact score. Every sampler follows scorebench's contract
``sampler(score, x, sigmas, *, noise, callback=None, **params) -> Tensor``.
"""
