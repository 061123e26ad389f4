# Reference values of tests/test_stats.py::test_percent_of_total_variation_* (Prism's "% of total
# variation": a term's sum of squares over the total sum of squares of the values, eta squared).
# Run from the repository root:
#
#     Rscript tests/r/percent_of_total.R
#
# With unequal numbers of wells (endpoint_unbalanced.csv) the Type III sums of squares do not add
# up to the total, which the sequential (Type I) ones do: the percentages add up to less than 100.

suppressPackageStartupMessages(library(car))

for (tag in c("balanced", "unbalanced")) {
  d <- read.csv(sprintf("tests/data/stats/endpoint_%s.csv", tag), check.names = FALSE)
  d$cell_line <- factor(d$cell_line, levels = unique(d$cell_line))
  d$treatment <- factor(d$treatment, levels = unique(d$treatment))
  fit <- lm(pct_change ~ cell_line * treatment, data = d,
            contrasts = list(cell_line = contr.sum, treatment = contr.sum))
  a <- car::Anova(fit, type = 3)[-1, ]
  ss_total <- sum((d$pct_change - mean(d$pct_change))^2)
  stopifnot(isTRUE(all.equal(ss_total, sum(anova(fit)[["Sum Sq"]]))))
  cat("\n", tag, "  total SS", sprintf("%.12g", ss_total),
      "  sum of the Type III SS", sprintf("%.12g", sum(a[["Sum Sq"]])), "\n")
  print(data.frame(source = rownames(a), ss = sprintf("%.12g", a[["Sum Sq"]]),
                   pct_total = sprintf("%.10g", 100 * a[["Sum Sq"]] / ss_total)))
}
