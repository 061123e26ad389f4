# Reference values of tests/test_stats.py::test_assumption_checks_match_r. Run from the
# repository root:
#
#     Rscript tests/r/assumption_checks.R
#
# Shapiro-Wilk on the residuals of lm(pct_change ~ cell_line * treatment) and Brown-Forsythe,
# car::leveneTest(center = median) over the cells; for the plate with holes of
# tests/r/plate_cases.R also without its single-well cell (M420 x IFN gamma), whose deviation
# from its own median is 0 by construction.

suppressPackageStartupMessages(library(car))

checks <- function(d, label) {
  d$cell <- droplevels(interaction(d$cell_line, d$treatment, sep = "/"))
  fit <- lm(pct_change ~ cell_line * treatment, data = d)
  sw <- shapiro.test(residuals(fit))
  bf <- leveneTest(pct_change ~ cell, data = d, center = median)
  cat(sprintf("%-26s W %.12g  P %.12g   BF F %.12g on %d and %d df  P %.12g\n", label,
              sw$statistic, sw$p.value, bf[1, "F value"], bf[1, "Df"], bf[2, "Df"],
              bf[1, "Pr(>F)"]))
}

d <- read.csv("tests/data/stats/endpoint_unbalanced.csv", check.names = FALSE)
checks(read.csv("tests/data/stats/endpoint_balanced.csv", check.names = FALSE), "balanced")
checks(d, "unbalanced")
holes <- d[!(d$cell_line == "M464" & d$treatment == "IFN gamma") & d$well != "B3", ]
checks(holes, "holes")
checks(holes[!(holes$cell_line == "M420" & holes$treatment == "IFN gamma"), ],
       "holes without the 1-well cell")
