"""Score SDE with the variance-exploding SDE (Song, Sohl-Dickstein, Kingma, Kumar, Ermon and
Poole 2021, "Score-Based Generative Modeling through Stochastic Differential Equations") as a
scorebench recipe plugin: NCSN taken to continuous time."""
