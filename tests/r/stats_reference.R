# Reference values for tests/test_stats.py, computed with R (car, emmeans, multcomp, afex, mvtnorm).
#
# Regenerate every pinned CSV (from the repository root; a few minutes, most of it spent in the
# high-precision multivariate t integrals):
#
#     Rscript tests/r/stats_reference.R tests/data/stats tests/data/stats
#
# Arguments: input folder (the CSVs written by tests/data/stats/make_stats_inputs.py), output
# folder, and optionally --quick, which skips the high-precision integrals (the live test uses it).
#
# Models:
#   endpoint: lm(pct_change ~ cell_line * treatment) with sum-to-zero contrasts; Type III by
#     car::Anova(type = 3) (checked against drop1(fit, . ~ ., test = "F")), Type II by
#     car::Anova(type = 2); Dunnett by emmeans(fit, ~ treatment | cell_line) +
#     contrast("trt.vs.ctrl", ref = "untreated"), adjust = "mvt" (one family per cell line);
#     the family with two controls (2'3'-cGAMP against Lipofectamine) by custom contrasts;
#     multcomp::glht on the cell-means model for one cell line.
#   growth curves (one cell line, wells over time): emmeans on lm(pct_change ~ time * treatment)
#     by time; repeated-measures ANOVA by afex::aov_car(... + Error(well / time)) with the
#     Greenhouse-Geisser correction, and aov(... + Error(well / time)) for the balanced case.
#
# emmeans and multcomp integrate the multivariate t with mvtnorm's randomised Genz-Bretz
# algorithm at its default precision (abseps = 0.001). The columns p_hp / crit_hp / lower_hp /
# upper_hp repeat that computation from the same correlation matrices with 1e6 points
# (error about 1e-7) and a root search on the probability with a fixed seed.

suppressPackageStartupMessages({
  library(car)
  library(emmeans)
  library(multcomp)
  library(mvtnorm)
})

args <- commandArgs(trailingOnly = TRUE)
quick <- "--quick" %in% args
args <- args[args != "--quick"]
indir <- if (length(args) >= 1) args[1] else "tests/data/stats"
outdir <- if (length(args) >= 2) args[2] else indir
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)

CELL_LINES <- c("M420", "M464", "M407")
TREATMENTS <- c("untreated", "IFN gamma", "Lipofectamine", "2'3'-cGAMP")
SEED <- 20160901
GB_HP <- GenzBretz(maxpts = 1e6, abseps = 1e-7, releps = 0)
GB_GLHT <- if (quick) GenzBretz() else GB_HP

read_input <- function(name) {
  d <- read.csv(file.path(indir, name), check.names = FALSE, stringsAsFactors = FALSE)
  d$treatment <- factor(d$treatment, levels = TREATMENTS)
  if ("cell_line" %in% names(d)) d$cell_line <- factor(d$cell_line, levels = unique(d$cell_line))
  d
}

write_table <- function(d, name) {
  for (col in names(d)) if (is.numeric(d[[col]])) d[[col]] <- sprintf("%.17g", d[[col]])
  write.csv(d, file.path(outdir, name), row.names = FALSE, quote = TRUE)
}

anova_frame <- function(a) {
  data.frame(source = rownames(a), ss = a[["Sum Sq"]], df = a[["Df"]],
             f = a[["F value"]], p = a[["Pr(>F)"]], check.names = FALSE)
}

# probability that every comparison stays within its region at threshold q
box_prob <- function(q, corr, df, side) {
  k <- nrow(corr)
  lower <- switch(side, two = rep(-abs(q), k), greater = rep(-Inf, k), less = rep(q, k))
  upper <- switch(side, two = rep(abs(q), k), greater = rep(q, k), less = rep(Inf, k))
  if (k == 1) return(pt(upper, df) - pt(lower, df))
  set.seed(SEED)
  as.numeric(pmvt(lower = lower, upper = upper, df = df, corr = corr, algorithm = GB_HP))
}

# high-precision adjusted P values and critical value of one family
hp_family <- function(t, corr, df, side = "two", level = 0.95) {
  if (quick) return(list(p = rep(NA_real_, length(t)), crit = NA_real_))
  p <- sapply(t, function(ti) 1 - box_prob(ti, corr, df, side))
  k <- length(t)
  sides <- if (side == "two") 2 else 1
  lo <- qt(1 - (1 - level) / sides, df)
  hi <- qt(1 - (1 - level) / (sides * k), df)
  sgn <- if (side == "less") -1 else 1
  crit <- if (k == 1) lo else uniroot(function(q) box_prob(sgn * q, corr, df, side) - level,
                                      c(lo * 0.999, hi * 1.001), tol = 1e-10)$root
  list(p = p, crit = crit)
}

# summary of a contrast object with emmeans' mvt adjustment plus the high-precision columns
contrast_table <- function(con, by, treatment, control, side = "two") {
  set.seed(SEED)
  s <- as.data.frame(summary(con, adjust = "mvt", infer = c(TRUE, TRUE)))
  v <- vcov(con)
  out <- data.frame(by = s[[by]], treatment = treatment, control = control,
                    estimate = s$estimate, se = s$SE, df = s$df, t = s$t.ratio,
                    p_emmeans = s$p.value, lower_emmeans = s$lower.CL,
                    upper_emmeans = s$upper.CL, p_hp = NA_real_, crit_hp = NA_real_,
                    lower_hp = NA_real_, upper_hp = NA_real_, check.names = FALSE)
  names(out)[1] <- by
  for (level in unique(s[[by]])) {
    rows <- which(s[[by]] == level)
    corr <- cov2cor(v[rows, rows, drop = FALSE])
    hp <- hp_family(s$t.ratio[rows], corr, s$df[rows][1], side)
    out$p_hp[rows] <- hp$p
    out$crit_hp[rows] <- hp$crit
    out$lower_hp[rows] <- if (side == "less") -Inf else s$estimate[rows] - hp$crit * s$SE[rows]
    out$upper_hp[rows] <- if (side == "greater") Inf else s$estimate[rows] + hp$crit * s$SE[rows]
  }
  out
}

# custom contrasts: each treatment against its control within each level of `by`
custom_contrasts <- function(emm, pairs) {
  levs <- levels(emm@grid$treatment)
  methods <- lapply(pairs, function(p) {
    w <- numeric(length(levs))
    w[match(p[1], levs)] <- 1
    w[match(p[2], levs)] <- -1
    w
  })
  names(methods) <- sapply(pairs, function(p) paste(p[1], "vs", p[2]))
  methods
}

sum_contrasts <- function(d, factors) {
  setNames(rep(list(contr.sum), length(factors)), factors)
}

endpoint_reference <- function(name, tag) {
  d <- read_input(name)
  fit <- lm(pct_change ~ cell_line * treatment, data = d,
            contrasts = sum_contrasts(d, c("cell_line", "treatment")))
  a3 <- car::Anova(fit, type = 3)
  d1 <- drop1(fit, . ~ ., test = "F")
  terms <- c("cell_line", "treatment", "cell_line:treatment")
  stopifnot(isTRUE(all.equal(a3[terms, "Sum Sq"], d1[terms, "Sum of Sq"], tolerance = 1e-10)))
  write_table(anova_frame(a3), sprintf("r_anova_type3_%s.csv", tag))
  write_table(anova_frame(car::Anova(fit, type = 2)), sprintf("r_anova_type2_%s.csv", tag))

  emm <- emmeans(fit, ~ treatment | cell_line)
  others <- TREATMENTS[-1]
  n_by <- length(levels(d$cell_line))
  con <- contrast(emm, "trt.vs.ctrl", ref = "untreated")
  labels <- as.character(summary(con)$contrast)
  stopifnot(all(mapply(grepl, rep(others, n_by), labels, fixed = TRUE)))
  tab <- contrast_table(con, "cell_line", rep(others, n_by), "untreated")
  write_table(tab, sprintf("r_dunnett_%s.csv", tag))

  # Lipofectamine is the vehicle of 2'3'-cGAMP: one family of three comparisons per cell line
  pairs <- list(c("IFN gamma", "untreated"), c("Lipofectamine", "untreated"),
                c("2'3'-cGAMP", "Lipofectamine"))
  con2 <- contrast(emm, method = custom_contrasts(emm, pairs))
  tab2 <- contrast_table(con2, "cell_line", rep(sapply(pairs, `[`, 1), n_by),
                         rep(sapply(pairs, `[`, 2), n_by))
  write_table(tab2, sprintf("r_dunnett_controls_%s.csv", tag))

  # one-sided: treatment below control (inhibition), side = "<"
  con3 <- contrast(emm, "trt.vs.ctrl", ref = "untreated", side = "<")
  tab3 <- contrast_table(con3, "cell_line", rep(others, n_by), "untreated", side = "less")
  write_table(tab3, sprintf("r_dunnett_less_%s.csv", tag))
  list(data = d, fit = fit)
}

glht_reference <- function(d, line, tag) {
  # cell-means model of the whole design; Dunnett within one cell line
  d$cell <- interaction(d$cell_line, d$treatment, sep = "/", drop = TRUE)
  fit <- lm(pct_change ~ 0 + cell, data = d)
  cells <- levels(d$cell)
  others <- TREATMENTS[-1]
  K <- t(sapply(others, function(tr) {
    w <- numeric(length(cells))
    w[match(paste0(line, "/", tr), cells)] <- 1
    w[match(paste0(line, "/untreated"), cells)] <- -1
    w
  }))
  colnames(K) <- names(coef(fit))
  g <- glht(fit, linfct = K)
  set.seed(SEED)
  s <- summary(g, test = adjusted("single-step", algorithm = GB_GLHT))
  set.seed(SEED)
  ci <- confint(g, level = 0.95, calpha = adjusted_calpha(algorithm = GB_GLHT))
  out <- data.frame(cell_line = line, treatment = others, control = "untreated",
                    estimate = as.numeric(s$test$coefficients), se = as.numeric(s$test$sigma),
                    df = g$df, t = as.numeric(s$test$tstat), p_glht = as.numeric(s$test$pvalues),
                    lower_glht = ci$confint[, "lwr"], upper_glht = ci$confint[, "upr"],
                    crit_glht = attr(ci$confint, "calpha"), check.names = FALSE)
  write_table(out, sprintf("r_glht_%s_%s.csv", line, tag))
}

growth_reference <- function(name, tag) {
  d <- read_input(name)
  d$time <- factor(d$elapsed_h)
  # Prism growth-curve layout: Dunnett within each time, cell-means error of time x treatment
  fit <- lm(pct_change ~ time * treatment, data = d,
            contrasts = sum_contrasts(d, c("time", "treatment")))
  emm <- emmeans(fit, ~ treatment | time)
  n_by <- nlevels(d$time)
  con <- contrast(emm, "trt.vs.ctrl", ref = "untreated")
  tab <- contrast_table(con, "time", rep(TREATMENTS[-1], n_by), "untreated")
  names(tab)[1] <- "elapsed_h"
  write_table(tab, sprintf("r_curve_dunnett_%s.csv", tag))

  if (requireNamespace("afex", quietly = TRUE)) {
    for (type in c(2, 3)) {
      a <- suppressMessages(afex::aov_car(pct_change ~ treatment * time + Error(well / time),
                                          data = d, type = type))
      u <- summary(a$Anova, multivariate = FALSE)
      uni <- unclass(u$univariate.tests)
      gg <- unclass(u$pval.adjustments)
      rows <- c("treatment", "time", "treatment:time")
      out <- data.frame(source = rows, ss = uni[rows, "Sum Sq"], df = uni[rows, "num Df"],
                        error_ss = uni[rows, "Error SS"], error_df = uni[rows, "den Df"],
                        f = uni[rows, "F value"], p = uni[rows, "Pr(>F)"],
                        eps_gg = c(NA, gg[rows[-1], "GG eps"]),
                        p_gg = c(uni["treatment", "Pr(>F)"], gg[rows[-1], "Pr(>F[GG])"]),
                        check.names = FALSE)
      write_table(out, sprintf("r_rm_anova_type%d_%s.csv", type, tag))
    }
  }
  if (tag == "balanced") {
    a <- summary(aov(pct_change ~ treatment * time + Error(well / time), data = d))
    strata <- do.call(rbind, lapply(names(a), function(s) {
      tb <- a[[s]][[1]]
      data.frame(stratum = s, source = trimws(rownames(tb)), ss = tb[["Sum Sq"]],
                 df = tb[["Df"]], check.names = FALSE)
    }))
    write_table(strata, "r_rm_aov_balanced.csv")
  }
}

for (tag in c("balanced", "unbalanced")) {
  ref <- endpoint_reference(sprintf("endpoint_%s.csv", tag), tag)
  if (tag == "unbalanced") glht_reference(ref$data, "M464", tag)
  growth_reference(sprintf("growth_%s.csv", tag), tag)
}
writeLines(c(R.version.string,
             paste("car", packageVersion("car")), paste("emmeans", packageVersion("emmeans")),
             paste("multcomp", packageVersion("multcomp")),
             paste("mvtnorm", packageVersion("mvtnorm")),
             paste("afex", if (requireNamespace("afex", quietly = TRUE))
               as.character(packageVersion("afex")) else "not installed")),
           file.path(outdir, "r_versions.txt"))
