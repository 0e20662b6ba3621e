"""Models: the LSTM autoencoder family (notebook 01) and, later, the SUM-GAN family."""
