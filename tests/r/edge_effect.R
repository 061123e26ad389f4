# Reference for tests/test_qc_plate.py: the edge-effect test is the one-sample t-test of the
# per-condition differences (outer mean - inner mean) against 0.
# Rscript tests/r/edge_effect.R
r <- t.test(c(-55, -25, -40, -10), mu = 0)
cat(sprintf("t = %.6f, df = %d, p = %.7f\n", r$statistic, as.integer(r$parameter), r$p.value))
# t = -3.356586, df = 3, p = 0.0438441
