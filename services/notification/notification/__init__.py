"""notification: delivers what matters to people, over every channel, without spam and without loss."""
