"""intake: takes reports from every channel, places each on its grid and announces it."""
