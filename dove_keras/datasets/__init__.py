"""Generated datasets: synthetic aerial scenes with captions (`dove_keras.datasets.synthetic`)."""
