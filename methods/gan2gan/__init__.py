"""GAN2GAN (Cha et al., ICLR 2021): generative noise learning, then iterative training on generated pairs.

- :mod:`methods.gan2gan.gan`: the three generators, two critics and Algorithm 1 (Eqs. 5-8);
- :mod:`methods.gan2gan.iterate`: fresh G2G pairs for every mini-batch (Eq. 9);
- :mod:`methods.gan2gan.method`: the registered method ``gan2gan`` (extraction, Algorithm 1, G2G_1..J);
- :mod:`methods.gan2gan.upper_bound`: ``n2c-eq4`` and ``n2c-gcbd``, the paper's noise-to-clean bounds.

Where the paper and the authors' code (github.com/csm9493/GAN2GAN at 6ab3071) disagree, the code is
followed and the paper's variant is an option. Every such choice, in one place ("spec" is
``spec/official-code.md``):

=============================  =======================================  ========================================
Topic                          Default here (source)                    Paper / option
=============================  =======================================  ========================================
Critic optimizer               RMSprop 5e-5 (spec 2.1, 8 #2)            Alg. 1's Adam: ``critic_optimizer="adam"``
Weight clipping                0.02 on all critic params, BN included   not stated in the paper
                               (spec 2.1, 8 #3, #19)
Generator optimizer            Adam 4e-4, betas (0.5, 0.999), linear    not stated (8 #4, #6)
                               decay after epoch 10 to 0.1x (spec 2.1)
"n_epoch = 30"                 30 passes over the noise patches         30 iterations of Alg. 1 (8 #5):
                               (spec 8 #5)                              ``gan_steps=30``
Cycle loss (Eq. 7)             mean L1 (spec 2.3 step 6, 8 #7)          sum: scale ``cycle_weight`` by H*W
Patch size                     64x64 crops; g_theta1 outputs 64x64      96x96 / 120x120 (8 #1): not offered, as
                               (spec 0 #1, 8 #1)                        g_theta1's architecture fixes 64
g_theta2 output                sigmoid(x - f(x)), 15-layer DnCNN        "final activation sigmoid" (8 #8)
                               (spec 1.3, 8 #8)
Eq. (4) bands                  Haar LL, LH, HL, HH, population std      "four sub-bands" (8 #9)
                               (spec 4.1)
Noise mean                     subtracted per 64x64 crop (spec 2.2)     per extracted patch
BSD extraction                 not published (spec 4.7, 8 #17): 64x64   paper: 96x96, N = 20,000; any window,
                               windows, stride 4, the 10,000 smoothest  stride, lambda or count is an option
                               (``bench.profiles._BSD_EXTRACTION``)
G2G schedule                   StepLR(10 epochs, 0.5) (spec 3.2, code   constant 1e-3 (the code before 6ab3071):
                               HEAD)                                    ``g2g_milestones=()``
G2G_1 initialisation           PyTorch default (spec 1.1); G2G_j, j>=2, not stated
                               warm-starts from G2G_{j-1} (spec 3.1)
Model selection                last step (DESIGN.md)                    the code picks the best *test* PSNR per
                                                                        epoch (8 #13): not offered
Critic sample reuse            generated samples computed once per      the code recomputes them per critic step:
                               generator iteration (same updates)       ``reuse_fakes=False`` (benchmarks)
BN statistics after Alg. 1     re-estimated from the final g_theta1     the code keeps running averages; with
                               and g_theta2 (16 batches) before they    few steps they lag the weights
                               are used in eval mode (ours)
Clean images                   never used (the code logs g_theta2's     spec 10 #11
                               PSNR against clean patches)
=============================  =======================================  ========================================
"""
