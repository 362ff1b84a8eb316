"""notification's domain: which event reaches whom, with what words, and the message's delivery state."""
