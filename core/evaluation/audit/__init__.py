"""The gradient-masking audit: the checks (:mod:`.checks`) and how a registered model or defense is
prepared and audited for the page and the command line (:mod:`.runs`)."""
