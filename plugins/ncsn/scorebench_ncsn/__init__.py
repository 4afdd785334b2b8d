"""The reference NCSN (Song & Ermon 2019) as a scorebench plugin."""
