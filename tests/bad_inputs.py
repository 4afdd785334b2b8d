"""Inputs that every command must refuse with a clear message (shared by the fuzz table
and the workspace that holds them as files)."""

#: Bench spec files that must each be refused before anything is computed.
SPEC_FILES = {
    "dupkeys.yaml": "sources: [R]\nseeds: 2\nseeds: 3\n",
    "seeds-true.yaml": "sources: [R]\nseeds: true\n",
    "seeds-list-true.yaml": "sources: [R]\nseeds: [0, true]\n",
    "n-true.yaml": "sources: [R]\nn: true\n",
    "n-one.yaml": "sources: [R]\nn: 1\n",
    "alias.yaml": "sources: [R]\nsamplers:\n  - &s {{name: langevin}}\n  - *s\n",
    "relabel.yaml": "{oracle}    config: {{recipe: ncsn, dataset: digits}}\n",
    "oracle-nan.yaml": "{oracle}    config:\n      schedule: {{params: {{sigma_max: .nan}}}}\n",
    "deep.yaml": "sources: [R]\nset: [" + "[" * 3000 + "]" * 3000 + "]\n",
    "deep.toml": "sources = ['R']\nx = " + "[" * 500 + "]" * 500 + "\n",
}
