"""NCSNv2 (Song & Ermon 2020, "Improved Techniques for Training Score-Based Generative
Models") as a scorebench recipe plugin."""
