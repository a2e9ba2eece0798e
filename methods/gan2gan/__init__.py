"""GAN2GAN (Cha et al., ICLR 2021): generative noise learning, then iterative training on generated pairs.

- :mod:`methods.gan2gan.gan`: the three generators, two critics and Algorithm 1 (Eqs. 5-8);
- :mod:`methods.gan2gan.iterate`: fresh G2G pairs for every mini-batch (Eq. 9);
- :mod:`methods.gan2gan.method`: the registered method ``gan2gan`` (extraction, Algorithm 1, G2G_1..J);
- :mod:`methods.gan2gan.upper_bound`: ``n2c-eq4`` and ``n2c-gcbd``, the paper's noise-to-clean bounds.

Where the paper and the authors' code (github.com/csm9493/GAN2GAN at 6ab3071) disagree, the code is
followed and the paper's variant is an option. Every such choice, in one place ("spec" is
``spec/official-code.md``; each line: topic: what we do (source). The paper / the option):

- Critic optimizer: RMSprop 5e-5 (spec 2.1, 8 #2). Algorithm 1's Adam: ``critic_optimizer="adam"``.
- Weight clipping: 0.02 on every critic parameter, BN included (spec 2.1, 8 #3, #19). Not in the paper.
- Generator optimizer: Adam 4e-4, betas (0.5, 0.999), linear decay after epoch 10 to 0.1x (spec 2.1,
  8 #4, #6). Not in the paper.
- "n_epoch = 30": 30 passes over the noise patches (spec 8 #5). Alg. 1 reads as 30 iterations:
  ``gan_steps=30``.
- Cycle loss (Eq. 7): mean L1 (spec 2.3, 8 #7). The paper's sum: multiply ``cycle_weight`` by H * W.
- Patch size: 64x64 crops, g_theta1 outputs 64x64 (spec 0 #1, 8 #1). The paper's 96/120: not offered,
  g_theta1's architecture fixes 64.
- g_theta2: sigmoid(x - f(x)) of a 15-layer DnCNN (spec 1.3, 8 #8). The paper: "sigmoid output".
- Eq. (4): Haar LL, LH, HL, HH with population std (spec 4.1, 8 #9). The paper: "four sub-bands".
- Noise mean: subtracted per 64x64 crop (spec 2.2). Per extracted patch would be the paper's reading.
- BSD extraction: not published (spec 4.7, 8 #17); 64x64 windows, stride 4, the 10,000 smoothest
  (``methods.presets._BSD_EXTRACTION``). The paper: 96x96, N = 20,000; window, stride, lambda and count
  are options.
- G2G schedule: StepLR(10 epochs, 0.5) (spec 3.2, code HEAD). Constant 1e-3 (the code before 6ab3071):
  ``g2g_milestones=()``.
- G2G_1 starts from PyTorch's default initialisation (spec 1.1); G2G_j, j >= 2, warm-starts from
  G2G_{j-1} (spec 3.1). Not in the paper. The short profiles start G2G_1 as the identity (below).
- Model selection: the last step (DESIGN.md). The code keeps the best *test* PSNR per epoch (8 #13):
  not offered.
- Critic steps reuse the generated samples of their generator iteration (the same updates, about half
  the cost). The code recomputes them in every critic step: ``reuse_fakes=False`` (benchmarks).
- BN statistics of g_theta1 and g_theta2 are re-estimated with their final weights (16 batches) before
  they are used in eval mode (ours). The code keeps running averages, which lag the weights when the
  training is short.
- Clean images are never used. The code needs clean patches to log g_theta2's PSNR (spec 10 #11).

Options that depart from the code, off by default and on in the smoke and cpu profiles
(``methods.presets._SHORT_GAN``), with the evidence of issue 20's study (``python -m bench.ablation
convergence``; numbers on 2 CPU cores, noise GAN alone at sigma 50, batch 16, n_critic 5, critics 32 wide):

- Why the code's critics see the noise level only weakly: BatchNorm in train mode normalises each batch by
  its own statistics and LeakyReLU is positively homogeneous, so a critic scoring the real and the fake
  batch in separate passes (as the code does) gives nearly the same output for a batch scaled by any
  factor; only BN's eps and the conv biases carry the scale. Trained 40 steps on std sigma against
  sigma / 2, a BN critic's W-estimate is 0.004 with separate batches and 0.047 with one joint batch
  (``critic_batch="joint"``, tests/unit/methods/test_gan2gan.py). The authors' 18,750 iterations of
  batch 64 may get there anyway; a short run does not.
- Critics without BatchNorm kept 1-Lipschitz by a gradient penalty (WGAN-GP): ``critic_norm="none"``,
  ``lipschitz="penalty"``, Adam 4e-4 (0.5, 0.9). The code: BN, clipping at 0.02, RMSprop 5e-5.
- A standardised g_theta1 (``generator_output="standardised"``): per-pixel BatchNorm and one gain
  instead of tanh, the gain started at the extracted patches' std. The code's transposed convolutions
  start with a fixed checkerboard (at initialisation std 14.3 of a total 19.3 in 0-255 units) and an
  outer ring at 3.8 against 13.4 inside; with the code's critics it grew with the level (random part
  25.0, fixed pattern 36.1 after 200 iterations at sigma 50); with WGAN-GP critics it collapsed into a
  pattern (random part 6.6, pattern 64.3). The standardised g_theta1 has no pattern by construction,
  and the WGAN-GP critics move its level from either side: started at 25 or at 100 for a true 50, its
  random part was 48.0 and 50.5 after 180 iterations (the code's BN critics let it drift, 50 -> 54 in
  40 iterations). A nearest-neighbour upsampling g_theta1 (``generator_upsample="resize"``) has less
  pattern but starts spatially correlated (flatness 0.06 against 0.96 for the extracted noise) and was
  still at 0.55 after 200 iterations.
- Clean-free choice of g_theta1 (``gan_selection="noise-match"``): that of the diagnosed iteration whose
  noise best matches the extracted patches (random-part std, fixed pattern, flatness); g_theta2 stays the
  last iteration's (g_theta2 taken from that iteration too scored 18.1 dB against 21.8 for the last, at
  sigma 25 after 100 iterations, on held-out BSD400 images). The code keeps the last.
- G2G pairs from whole-image estimates (``g2g_estimate="images"``), once per iteration; the code runs the
  estimator on each crop, which a 40x40 crop fills with zero padding. Noise crops at random offsets off
  g_theta1's outer ring (``g2g_noise_offset="interior"``); the code cuts its top-left corner.
- Critics 32 features wide in the cpu profile: the code's 128 double the cost of a whole iteration.
- G2G_1 starts as the identity (``g2g_start="identity"``: PyTorch's default start with the DnCNN's last
  convolution zeroed). From the default start a short G2G_1's pair loss falls to the loss of returning its
  input within 20 steps and sits there for about 200 steps of 32 x 40x40 at sigma 15 (75 at sigma 25),
  longer than the cpu profile's 200: G2G_1..3 of a cpu Table 2 returned their input at sigma 15. From the
  identity start the plateau ends at about step 110, and G2G_1 scored 28.23 dB on BSD68 against 25.01
  (same GAN, data, seeds and steps; noisy input 24.80). Every report shows each G2G iteration's final pair
  loss over the identity's, which flags the plateau without a clean image.
"""
