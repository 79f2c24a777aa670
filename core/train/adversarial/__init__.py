"""Adversarial-training recipes of the zoo: PGD-AT, TRADES, N-FGSM, FGSM tricks, IAT, DIAL,
cost-sensitive, LADDER."""
