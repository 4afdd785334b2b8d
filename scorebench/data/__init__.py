"""scorebench's built-in datasets (the built-in plugin ``scorebench.data``).

Registered names: ``cifar10``, ``mnist``, ``celeba`` (torchvision files, downloaded into
:func:`scorebench.paths.data_dir` when absent), ``folder`` (any directory of images),
``digits`` (scikit-learn's 8x8 digits, offline), and the 2-D toys ``toy-gmm``, ``rings`` and
``moons``. Every factory is ``factory(root, split, **params)``; see :mod:`scorebench.data.base`
for the attributes every dataset carries. Importing this package does not import torch.
"""
