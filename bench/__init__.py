"""GridLink's benchmark (`make bench`): open-loop load on the whole pipeline, its ceilings, and the plain nameko
pipeline it is measured against. See docs/performance.md."""
