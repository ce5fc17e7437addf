"""Qt-free core of Waste Sorter: images, models, bins, history, statistics, settings."""
