"""The networks the results are about: the two-layer net of Du et al. (2019), the MLP family, deep linear nets."""
