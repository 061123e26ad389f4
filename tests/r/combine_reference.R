# Reference values for tests/test_combine_stats.py: plates as blocks, computed with R
# (car, emmeans, mvtnorm, lme4).
#
# Regenerate every pinned CSV (from the repository root):
#
#     Rscript tests/r/combine_reference.R tests/data/combine tests/data/combine
#
# Arguments: input folder (wells_unbalanced.csv, written once by
# tests/data/combine/make_combine_inputs.py), output folder, and optionally --quick (skips the
# high-precision multivariate t integrals; the live test uses it).
#
# Models:
#   block analysis: the wells of each plate x condition averaged (plate means), then
#     lm(mean ~ plate + cell_line * treatment) with sum-to-zero contrasts; Type III by
#     car::Anova(type = 3); Dunnett by emmeans(fit, ~ treatment | cell_line) with contrasts of
#     each treatment against its control (IFN gamma and Lipofectamine against untreated,
#     2'3'-cGAMP against its vehicle Lipofectamine), adjust = "mvt", one family per cell line.
#   mixed model (sensitivity): lmer(pct_change ~ cell_line * treatment + (1 | plate) +
#     (1 | plate:cell_line:treatment), REML = TRUE) on the wells; the same contrasts with
#     emmeans(lmer.df = "asymptotic") (z tests: no small-sample df).
#
# emmeans integrates the multivariate t with mvtnorm's randomised Genz-Bretz algorithm at its
# default precision (abseps = 0.001); p_hp / crit_hp repeat it with 1e6 points (error ~1e-7).

suppressPackageStartupMessages({
  library(car)
  library(emmeans)
  library(mvtnorm)
  library(lme4)
})

args <- commandArgs(trailingOnly = TRUE)
quick <- "--quick" %in% args
args <- args[args != "--quick"]
indir <- if (length(args) >= 1) args[1] else "tests/data/combine"
outdir <- if (length(args) >= 2) args[2] else indir
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)

TREATMENTS <- c("untreated", "IFN gamma", "Lipofectamine", "2'3'-cGAMP")
PAIRS <- list(c("IFN gamma", "untreated"), c("Lipofectamine", "untreated"),
              c("2'3'-cGAMP", "Lipofectamine"))
SEED <- 20160901
GB_HP <- GenzBretz(maxpts = 1e6, abseps = 1e-7, releps = 0)

write_table <- function(d, name) {
  for (col in names(d)) if (is.numeric(d[[col]])) d[[col]] <- sprintf("%.17g", d[[col]])
  write.csv(d, file.path(outdir, name), row.names = FALSE, quote = TRUE)
}

wells <- read.csv(file.path(indir, "wells_unbalanced.csv"), check.names = FALSE,
                  stringsAsFactors = FALSE)
wells$treatment <- factor(wells$treatment, levels = TREATMENTS)
wells$cell_line <- factor(wells$cell_line, levels = unique(wells$cell_line))
wells$plate <- factor(wells$plate)

# plate means: one row a plate x condition
means <- aggregate(pct_change ~ plate + cell_line + treatment, data = wells,
                   FUN = function(x) c(mean = mean(x), sd = sd(x), n = length(x)))
means <- data.frame(means[c("plate", "cell_line", "treatment")], means$pct_change)
names(means)[4:6] <- c("mean", "sd", "n_wells")
write_table(means[order(means$plate, means$cell_line, means$treatment), ],
            "r_plate_means.csv")

fit <- lm(mean ~ plate + cell_line * treatment, data = means,
          contrasts = list(plate = contr.sum, cell_line = contr.sum, treatment = contr.sum))
a3 <- car::Anova(fit, type = 3)
write_table(data.frame(source = rownames(a3), ss = a3[["Sum Sq"]], df = a3[["Df"]],
                       f = a3[["F value"]], p = a3[["Pr(>F)"]]), "r_block_anova.csv")

custom <- function(emm) {
  levs <- levels(emm@grid$treatment)
  m <- lapply(PAIRS, function(p) {
    w <- numeric(length(levs))
    w[match(p[1], levs)] <- 1
    w[match(p[2], levs)] <- -1
    w
  })
  names(m) <- sapply(PAIRS, function(p) paste(p[1], "vs", p[2]))
  m
}

hp <- function(t, corr, df) {
  if (quick) return(list(p = rep(NA_real_, length(t)), crit = NA_real_))
  box <- function(q) {
    set.seed(SEED)
    k <- length(t)
    if (is.finite(df)) {
      as.numeric(pmvt(lower = rep(-q, k), upper = rep(q, k), df = df, corr = corr,
                      algorithm = GB_HP))
    } else {
      as.numeric(pmvnorm(lower = rep(-q, k), upper = rep(q, k), corr = corr,
                         algorithm = GB_HP))
    }
  }
  p <- sapply(abs(t), function(q) 1 - box(q))
  lo <- if (is.finite(df)) qt(0.975, df) else qnorm(0.975)
  hi <- if (is.finite(df)) qt(1 - 0.025 / length(t), df) else qnorm(1 - 0.025 / length(t))
  list(p = p, crit = uniroot(function(q) box(q) - 0.95, c(lo * 0.999, hi * 1.001),
                              tol = 1e-10)$root)
}

contrast_table <- function(con) {
  set.seed(SEED)
  s <- as.data.frame(summary(con, adjust = "mvt", infer = c(TRUE, TRUE)))
  v <- vcov(con)
  stat <- if ("t.ratio" %in% names(s)) s$t.ratio else s$z.ratio
  lower <- if ("lower.CL" %in% names(s)) s$lower.CL else s$asymp.LCL
  upper <- if ("upper.CL" %in% names(s)) s$upper.CL else s$asymp.UCL
  out <- data.frame(cell_line = s$cell_line, treatment = sapply(PAIRS, `[`, 1),
                    control = sapply(PAIRS, `[`, 2), estimate = s$estimate, se = s$SE,
                    df = s$df, t = stat, p_emmeans = s$p.value,
                    lower_emmeans = lower, upper_emmeans = upper,
                    p_hp = NA_real_, crit_hp = NA_real_, check.names = FALSE)
  for (level in unique(s$cell_line)) {
    rows <- which(s$cell_line == level)
    h <- hp(stat[rows], cov2cor(v[rows, rows]), s$df[rows][1])
    out$p_hp[rows] <- h$p
    out$crit_hp[rows] <- h$crit
  }
  out
}

emm <- emmeans(fit, ~ treatment | cell_line)
write_table(contrast_table(contrast(emm, method = custom(emm))), "r_block_dunnett.csv")
emm_df <- as.data.frame(emm)
write_table(data.frame(cell_line = emm_df$cell_line, treatment = emm_df$treatment,
                       emmean = emm_df$emmean, se = emm_df$SE), "r_block_emmeans.csv")

mixed <- lmer(pct_change ~ cell_line * treatment + (1 | plate) +
                (1 | plate:cell_line:treatment), data = wells, REML = TRUE,
              control = lmerControl(optimizer = "bobyqa"))
vc <- as.data.frame(VarCorr(mixed))
write_table(data.frame(component = vc$grp, variance = vc$vcov), "r_mixed_variances.csv")
emm_m <- emmeans(mixed, ~ treatment | cell_line, lmer.df = "asymptotic")
write_table(contrast_table(contrast(emm_m, method = custom(emm_m))), "r_mixed_dunnett.csv")

writeLines(c(R.version.string,
             paste("car", packageVersion("car")), paste("emmeans", packageVersion("emmeans")),
             paste("mvtnorm", packageVersion("mvtnorm")), paste("lme4", packageVersion("lme4"))),
           file.path(outdir, "r_versions.txt"))
