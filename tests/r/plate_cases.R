# Reference values of tests/test_stats.py::test_plate_with_holes_* (a plate as it comes back:
# a treatment missing from one cell line, a condition with one well, two-well conditions, and
# 2'3'-cGAMP against its vehicle Lipofectamine). Run from the repository root:
#
#     Rscript tests/r/plate_cases.R
#
# Input: tests/data/stats/endpoint_unbalanced.csv without M464 x IFN gamma (B7, C7, D7) and
# without well B3 (M420 x IFN gamma keeps C3 alone). The two-way ANOVA is not defined with an
# empty cell; the comparisons use the cell-means model lm(pct_change ~ 0 + cell), whose
# residual mean square is that of the full cell_line x treatment model.
#
# 1. multcomp::glht on the cell-means model, one family per cell line, and the same P values and
#    critical values from mvtnorm::pmvt with 1e6 points (error about 1e-7) and a root search.
# 2. P values far below mvtnorm's absolute error (about 1e-7): the many-to-one family of M420
#    (untreated n = 3 against IFN gamma n = 1, Lipofectamine n = 3, cGAMP n = 3) as Dunnett's
#    (1955) integral of the probability that some |T_i| exceeds |t|, nested stats::integrate.

suppressPackageStartupMessages({
  library(multcomp)
  library(mvtnorm)
})

d <- read.csv("tests/data/stats/endpoint_unbalanced.csv", check.names = FALSE)
d <- d[!(d$cell_line == "M464" & d$treatment == "IFN gamma") & d$well != "B3", ]
cells <- paste(d$cell_line, d$treatment, sep = "/")
d$cell <- factor(cells, levels = unique(cells))
fit <- lm(pct_change ~ 0 + cell, data = d)
GB <- GenzBretz(maxpts = 1e6, abseps = 1e-7, releps = 0)
SEED <- 20160901
cat("residual df", fit$df.residual, " MS", sprintf("%.12g", summary(fit)$sigma^2), "\n")

pairs <- list(c("IFN gamma", "untreated"), c("Lipofectamine", "untreated"),
              c("2'3'-cGAMP", "Lipofectamine"))
for (line in c("M420", "M464", "M407")) {
  here <- Filter(function(p) all(paste0(line, "/", p) %in% levels(d$cell)), pairs)
  K <- t(sapply(here, function(p) {
    w <- numeric(nlevels(d$cell))
    w[match(paste0(line, "/", p), levels(d$cell))] <- c(1, -1)
    w
  }))
  rownames(K) <- sapply(here, `[`, 1)
  colnames(K) <- names(coef(fit))
  g <- glht(fit, linfct = K)
  set.seed(SEED)
  s <- summary(g, test = adjusted("single-step", algorithm = GB))
  t <- as.numeric(s$test$tstat)
  corr <- cov2cor(K %*% vcov(fit) %*% t(K))
  box <- function(q) {
    set.seed(SEED)
    if (length(t) == 1) return(1 - 2 * pt(-abs(q), fit$df.residual))
    as.numeric(pmvt(lower = rep(-abs(q), length(t)), upper = rep(abs(q), length(t)),
                    df = fit$df.residual, corr = corr, algorithm = GB))
  }
  crit <- uniroot(function(q) box(q) - 0.95, c(1.5, 4), tol = 1e-10)$root
  cat("\n", line, "  crit_hp", sprintf("%.10g", crit), "\n")
  print(data.frame(treatment = rownames(K), estimate = sprintf("%.10g", s$test$coefficients),
                   se = sprintf("%.10g", s$test$sigma), t = sprintf("%.10g", t),
                   p_glht = signif(as.numeric(s$test$pvalues), 6),
                   p_hp = signif(sapply(t, function(x) 1 - box(x)), 6)))
}

# 2. P(max_i |T_i| > c) for one control (n0) and treatments n, T_i with df degrees of freedom
exceed <- function(c, n0, n, df) {
  lam <- sqrt(n / (n + n0))
  s1 <- sqrt(1 - lam^2)
  given_s <- function(s) {
    integrate(function(z) sapply(z, function(zz) {
      tail <- pnorm(-(c * s + lam * zz) / s1) + pnorm((-c * s + lam * zz) / s1)
      -expm1(sum(log1p(-tail))) * dnorm(zz)
    }), -12, 12, rel.tol = 1e-10, abs.tol = 0, subdivisions = 500)$value
  }
  dens <- function(s) exp(log(2) + (df / 2) * log(df / 2) - lgamma(df / 2) + (df - 1) * log(s) -
                            df * s^2 / 2)
  integrate(function(s) sapply(s, function(x) given_s(x) * dens(x)), 0, 6,
            rel.tol = 1e-9, abs.tol = 0, subdivisions = 500)$value
}
cat("\nM420 many-to-one family, df", fit$df.residual, "\n")
for (tr in c("IFN gamma", "Lipofectamine", "2'3'-cGAMP")) {
  K <- numeric(nlevels(d$cell))
  K[match(paste0("M420/", c(tr, "untreated")), levels(d$cell))] <- c(1, -1)
  est <- sum(K * coef(fit))
  se <- sqrt(as.numeric(t(K) %*% vcov(fit) %*% K))
  cat(sprintf("%-14s t %.10g  raw %.6g  p_exact %.10g\n", tr, est / se,
              2 * pt(-abs(est / se), fit$df.residual),
              exceed(abs(est / se), 3, c(1, 3, 3), fit$df.residual)))
}
