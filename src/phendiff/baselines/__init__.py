"""The PhenDiff paper's baselines, trained and scored by the same tool.

- ``config.py``    :class:`~.config.BaselineConfig`: every option, each method's defaults;
- ``networks.py``  ResNet generators, PatchGAN / StarGAN critics, a conditional StyleGAN2;
- ``losses.py``    WGAN-GP, least squares, classification, logistic + R1;
- ``methods.py``   one optimizer step of StarGAN, CycleGAN and PhenEx;
- ``train.py``     :func:`~.train.train_baseline`: the loop (accelerate, resume, Ctrl-C);
- ``folder.py``    model folders (safetensors + JSON) and resume state;
- ``translate.py`` :class:`~.translate.BaselineTranslator`: translations in the layout of
  ``phendiff translate``, through :func:`phendiff.translate.translate_files`.

Nothing is imported here, so ``phendiff --help`` stays instant.
"""
