"""Metrics: FID/KID/precision-recall in darkroom's own feature spaces, coverage, PSNR/SSIM."""
