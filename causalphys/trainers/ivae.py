"""The identifiable VAE, iVAE (Khemakhem et al. 2020): a VAE whose latent prior depends on the environment."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from causalphys import checks
from causalphys.errors import ParameterError
from causalphys.nets.decoder import make_decoder
from causalphys.nets.init import reinitialize
from causalphys.nets.modes import evaluating
from causalphys.seeding import derive_seed, make_generator
from causalphys.trainers.base import FUSE_ROWS, Minibatch, Trainer
from causalphys.trainers.schedule import cosine_factor

PRIORS = ("gaussian", "laplace")
POSTERIORS = ("full", "diagonal")
LR_SCHEDULES = ("constant", "cosine")
LOG_2PI = math.log(2 * math.pi)


class IVAEModules(nn.Module):
    """What the iVAE learns besides the net's body: the encoder heads, the prior table and the decoder.

    - ``encoder_head``: ``Linear(n_features, 2 · latent_dim)``, features ``(n, n_features)`` -> ``[mu | log v]``,
      the mean and the log-variances of ``q(z | x)`` (the diagonal of its Cholesky factor is ``exp(log v / 2)``).
    - ``encoder_offdiag`` (full posterior only): ``Linear(n_features, latent_dim (latent_dim - 1) / 2)``, the
      entries below the diagonal of the Cholesky factor ``C`` of the posterior covariance ``C C^T`` (zero at
      initialisation: the posterior starts diagonal).
    - ``prior``: ``Embedding(n_envs, 2 · latent_dim)``, environment index ``u`` -> ``[m_u | log s_u]``, the mean and
      log-variance of ``p(z | u)`` (zero at initialisation: every environment starts at the standard prior).
    - ``decoder``: ``z`` ``(n, latent_dim)`` -> ``x̂`` ``(n, *input_shape)`` (:func:`causalphys.nets.make_decoder`).
    - ``decoder_logvar``: the log-variance ``log sigma²`` of ``p(x | z)``, shared by all input dimensions; a parameter
      when learned, else a buffer fixed at ``log(decoder_var)``.
    """

    def __init__(
        self,
        n_features: int,
        latent_dim: int,
        n_envs: int,
        input_shape: Sequence[int],
        decoder_hidden: Sequence[int],
        decoder_channels: int,
        decoder_var: float,
        learn_decoder_var: bool,
        full_posterior: bool,
    ):
        super().__init__()
        self.latent_dim = latent_dim
        self.decoder_var = decoder_var
        self.encoder_head = nn.Linear(n_features, 2 * latent_dim)
        n_offdiag = latent_dim * (latent_dim - 1) // 2
        self.encoder_offdiag = nn.Linear(n_features, n_offdiag) if full_posterior and n_offdiag else None
        self.prior = nn.Embedding(n_envs, 2 * latent_dim)
        self.decoder = make_decoder(latent_dim, input_shape, decoder_hidden, decoder_channels)
        logvar = torch.tensor(math.log(decoder_var))
        if learn_decoder_var:
            self.decoder_logvar = nn.Parameter(logvar)
        else:
            self.register_buffer("decoder_logvar", logvar)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the encoder head and the decoder (PyTorch's defaults); zero ``encoder_offdiag`` and the prior
        table; reset ``decoder_logvar`` to ``log(decoder_var)``."""
        self.encoder_head.reset_parameters()
        for module in self.decoder.modules():
            if module is not self.decoder and callable(getattr(module, "reset_parameters", None)):
                module.reset_parameters()
        with torch.no_grad():
            if self.encoder_offdiag is not None:
                self.encoder_offdiag.weight.zero_()
                self.encoder_offdiag.bias.zero_()
            self.prior.weight.zero_()
            self.decoder_logvar.fill_(math.log(self.decoder_var))


class IVAE(Trainer):
    """The iVAE: maximise the ELBO of a VAE whose prior ``p(z | u)`` depends on the environment ``u``.

    Generative model (Khemakhem et al. 2020), for an input ``x`` of environment ``u`` (its index in ``env_names_``,
    the one-hot auxiliary variable of the paper)::

        z | u ~ prod_j p(z_j | u)   with mean m_uj and variance exp(l_uj)   (Gaussian or Laplace; a learned table)
        x | z ~ N(f(z), sigma² I)                                            (f: the decoder)

    Encoder ``q(z | x) = N(mu(x), C(x) C(x)^T)`` with ``[mu | log v] = encoder_head(net.features(x))`` and ``C``
    lower triangular with diagonal ``exp(log v / 2)`` (``posterior="full"``: the entries below the diagonal come
    from ``encoder_offdiag``; ``"diagonal"``: they are 0, the paper's mean-field posterior). Per sample, with
    ``z = mu + C eps`` (reparameterisation, ``eps ~ N(0, I)`` from a generator seeded with
    ``derive_seed(seed, "ivae_noise")`` and checkpointed)::

        ELBO(x, u) = log N(x; f(z), sigma² I) - KL(q(z | x) || p(z | u))

    where the KL term is exact for the Gaussian prior,
    ``1/2 sum_j [l_uj - log v_j + ((C C^T)_jj + (mu_j - m_uj)²) exp(-l_uj) - 1]``, and the one-sample estimate
    ``log q(z | x) - log p(z | u)`` for the Laplace prior (scale ``b = sqrt(exp(l) / 2)``). The loss is
    ``-mean ELBO`` over the pooled minibatches of all environments (plus the base class's ``l2`` term on the net's
    weights). With enough environments whose prior variances differ (``>= 2 · latent_dim + 1`` in the paper's
    theorem) the latents are identifiable up to a permutation and elementwise transforms; ``conditional_prior=False``
    gives a plain VAE with the prior ``N(0, I)`` (or the standard Laplace) in every environment, the baseline that is
    not identifiable.

    **Why a full posterior by default.** For nearly noiseless data ``x = g(s)`` the true posterior is close to
    ``N(g^{-1}(x), sigma² (J^T J)^{-1})`` with ``J`` the mixing's Jacobian, correlated unless ``J``'s columns are
    orthogonal. A mean-field posterior then costs the true solution ``1/2 E[sum_j log (J^T J)_jj - log det J^T J]``
    nats of ELBO (about 3.5 nats on the paper's 2-layer nonlinear ICA data), so the mean-field ELBO prefers wrong,
    "more orthogonal" unmixings; the full Cholesky factor removes this gap (see ``experiments/crl/README.md``).

    **Unsupervised.** The targets ``y`` of each environment are not used; they still pass the base class's checks
    for ``task`` (e.g. integer labels for ``classification``, or the true sources ``(n, k)`` with
    ``task="regression"`` and a net with ``k`` outputs).

    **The net passed to fit is the encoder's body.** The iVAE uses ``net.features`` ``(n, *input_shape) -> (n,
    n_features)`` (an :class:`~causalphys.nets.MLP` for vectors, a :class:`~causalphys.nets.SmallCNN` for images)
    and builds its own linear heads on those features, so any harness net ``make_net(input_shape, n_outputs)``
    works whatever its ``n_outputs``, and ``latent_dim`` is a free hyper-parameter; the net's own ``head`` is left
    untrained. The encoder sees ``x`` only, not ``u`` (the paper's encoder is ``q(z | x, u)``): the posterior for
    data of an unseen environment is then defined, which :meth:`predict` needs; with nearly noiseless observations
    the true posterior hardly depends on ``u``.

    **Decoder.** Inputs ``(c, h, w)`` get a :class:`~causalphys.nets.ConvDecoder` (``decoder_channels`` channels),
    every other shape an :class:`~causalphys.nets.MLPDecoder` (``decoder_hidden`` widths). The decoder, the encoder
    heads and the prior (:class:`IVAEModules`, ``modules_``) are drawn afresh at the start of every ``fit`` from
    ``derive_seed(seed, "init", "ivae")``, trained by their own Adam (``modules_optimizer_``, same ``lr`` and
    ``weight_decay``) and checkpointed with :meth:`extra_state`.

    Hyper-parameters: ``latent_dim`` (default 4), ``prior`` (``"gaussian"`` or ``"laplace"``), ``prior_mean`` (learn
    a mean per environment; ``False``: means 0, as the paper's code), ``conditional_prior`` (``False``: plain VAE),
    ``posterior`` (``"full"`` or ``"diagonal"``), ``decoder_var`` (``sigma²``; the paper's code uses 0.01),
    ``learn_decoder_var`` (start at ``decoder_var`` and learn it), ``decoder_hidden``, ``decoder_channels``,
    ``lr_schedule`` (``"constant"`` or ``"cosine"``: ``lr_t = lr (1 + cos(pi t / steps)) / 2`` for both
    optimizers), and those of :class:`~causalphys.trainers.base.Trainer` (``task`` only selects the checks of ``y``)
    with the defaults that recover nonlinear ICA sources (experiments/crl): ``lr`` 3e-3, ``batch_size`` 8, ``steps``
    20000.
    Metrics per step: ``loss``, ``elbo`` (mean ELBO in nats per sample), ``reconstruction`` (mean
    ``log p(x | z)``), ``kl`` (mean KL term).

    :meth:`predict` returns the posterior means ``mu(x)`` ``(n, latent_dim)``, the learned latents; :meth:`encode`
    also returns the log-variances of the posterior marginals.
    """

    min_envs = 2
    learns_representation = True  # predict() gives latents, not predictions: the harness refuses to score it

    def __init__(
        self,
        latent_dim: int = 4,
        prior: str = "gaussian",
        prior_mean: bool = False,
        conditional_prior: bool = True,
        posterior: str = "full",
        decoder_var: float = 0.01,
        learn_decoder_var: bool = False,
        decoder_hidden: Sequence[int] = (128, 128),
        decoder_channels: int = 32,
        lr_schedule: str = "cosine",
        lr: float = 3e-3,
        batch_size: int | None = 8,
        steps: int = 20000,
        **kwargs,
    ):
        owner = type(self).__name__
        self.latent_dim = checks.positive_int(f"{owner} latent_dim", latent_dim)
        self.prior = checks.choice(f"{owner} prior", prior, PRIORS)
        self.prior_mean = checks.boolean(f"{owner} prior_mean", prior_mean)
        self.conditional_prior = checks.boolean(f"{owner} conditional_prior", conditional_prior)
        self.posterior = checks.choice(f"{owner} posterior", posterior, POSTERIORS)
        self.decoder_var = checks.positive_float(f"{owner} decoder_var", decoder_var)
        self.learn_decoder_var = checks.boolean(f"{owner} learn_decoder_var", learn_decoder_var)
        if isinstance(decoder_hidden, (str, bytes)) or not isinstance(decoder_hidden, Sequence):
            raise ParameterError(f"{owner} decoder_hidden must be a list of widths, got {decoder_hidden!r}")
        self.decoder_hidden = tuple(checks.positive_int(f"{owner} decoder_hidden width", h) for h in decoder_hidden)
        self.decoder_channels = checks.positive_int(f"{owner} decoder_channels", decoder_channels)
        self.lr_schedule = checks.choice(f"{owner} lr_schedule", lr_schedule, LR_SCHEDULES)
        self.min_envs = 2 if self.conditional_prior else 1
        super().__init__(lr=lr, batch_size=batch_size, steps=steps, **kwargs)

    # ----------------------------------------------------------------------------------------------- the modules
    def _feature_width(self) -> int:
        width = getattr(self.net_, "n_features", None)
        if isinstance(width, int) and not isinstance(width, bool):
            return width
        param = next(self.net_.parameters())
        with evaluating(self.net_):
            return self.net_.features(torch.zeros(1, *self.input_shape_, device=param.device)).shape[1]

    def _build_modules(self, n_features: int, n_envs: int) -> None:
        with torch.random.fork_rng(devices=[]):  # the constructors' default init must not move the global RNG
            modules = IVAEModules(
                n_features,
                self.latent_dim,
                n_envs,
                self.input_shape_,
                self.decoder_hidden,
                self.decoder_channels,
                self.decoder_var,
                self.learn_decoder_var,
                full_posterior=self.posterior == "full",
            )
        reinitialize(modules, derive_seed(self.seed, "init", "ivae"))
        param = next(self.net_.parameters())
        self.modules_ = modules.to(param.device, param.dtype)
        self.modules_optimizer_ = self.build_optimizer(self.modules_.parameters())
        self.noise_generator_ = make_generator(derive_seed(self.seed, "ivae_noise"), param.device)

    def prepare(self, env_names: list[object]) -> None:
        self._build_modules(self._feature_width(), len(env_names))

    def extra_state(self) -> dict:
        return {
            "n_features": self.modules_.encoder_head.in_features,
            "n_envs": self.modules_.prior.num_embeddings,
            "modules": {k: v.detach().cpu().clone() for k, v in self.modules_.state_dict().items()},
            "modules_optimizer": self.modules_optimizer_.state_dict(),
            "noise": self.noise_generator_.get_state(),
        }

    def load_extra_state(self, state: dict) -> None:
        self._build_modules(int(state["n_features"]), int(state["n_envs"]))
        self.modules_.load_state_dict(state["modules"])
        self.modules_optimizer_.load_state_dict(state["modules_optimizer"])
        self.noise_generator_.set_state(state["noise"])

    # -------------------------------------------------------------------------------------------------- the ELBO
    def _posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``mu``, ``log v`` ``(b, latent_dim)`` and the entries below the diagonal of ``C`` (``None`` if diagonal)."""
        h = self.net_.features(x)
        mu, logvar = self.modules_.encoder_head(h).chunk(2, dim=1)
        offdiag = self.modules_.encoder_offdiag
        return mu, logvar, (offdiag(h) if offdiag is not None else None)

    def _prior(self, u: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prior means and log-variances ``(b, latent_dim)`` for environment indices ``u`` ``(b,)``."""
        if not self.conditional_prior:
            return torch.zeros_like(like), torch.zeros_like(like)
        mean, logvar = self.modules_.prior(u).chunk(2, dim=1)
        return (mean if self.prior_mean else torch.zeros_like(mean)), logvar

    def elbo_terms(self, x: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample ``log p(x | z)`` and KL term ``(b,)`` for inputs ``x`` ``(b, *input_shape)`` of environment
        indices ``u`` ``(b,)`` (long), with one reparameterised sample ``z`` (see the class doc)."""
        mu, logvar, offdiag = self._posterior(x)
        eps = torch.randn(mu.shape, generator=self.noise_generator_, device=mu.device, dtype=mu.dtype)
        std = torch.exp(0.5 * logvar)
        z = mu + std * eps
        marginal_var = std**2
        if offdiag is not None:  # z += L eps and (C C^T)_jj += sum_k L_jk², L strictly lower triangular
            rows, cols = torch.tril_indices(self.latent_dim, self.latent_dim, -1, device=mu.device)
            lower = mu.new_zeros(len(mu), self.latent_dim, self.latent_dim)
            lower[:, rows, cols] = offdiag
            z = z + (lower @ eps.unsqueeze(2)).squeeze(2)
            marginal_var = marginal_var + (lower**2).sum(2)
        m, l_prior = self._prior(u, mu)
        if self.prior == "gaussian":
            kl = 0.5 * (l_prior - logvar + (marginal_var + (mu - m) ** 2) * torch.exp(-l_prior) - 1)
        else:
            log_q = -0.5 * (eps**2 + logvar + LOG_2PI)  # log det C = sum_j log v_j / 2
            b = torch.exp(0.5 * l_prior) / math.sqrt(2)
            log_p = -torch.log(2 * b) - (z - m).abs() / b
            kl = log_q - log_p
        residual = (x - self.modules_.decoder(z)).flatten(1)
        s2 = self.modules_.decoder_logvar
        reconstruction = -0.5 * (residual**2 * torch.exp(-s2) + s2 + LOG_2PI).sum(1)
        return reconstruction, kl.sum(1)

    def update(self, batches: list[Minibatch]) -> dict[str, float]:
        optimizers = (self.optimizer_, self.modules_optimizer_)
        if self.lr_schedule == "cosine":
            for optimizer in optimizers:
                for group in optimizer.param_groups:
                    group["lr"] = self.lr * cosine_factor(self.step_, self.steps)
        device = batches[0][0].device
        u = [torch.full((len(x),), e, dtype=torch.long, device=device) for e, (x, _) in enumerate(batches)]
        if sum(len(x) for x, _ in batches) <= FUSE_ROWS:
            reconstruction, kl = self.elbo_terms(torch.cat([x for x, _ in batches]), torch.cat(u))
        else:  # large (e.g. full) batches: per environment, without a pooled copy of the inputs
            terms = [self.elbo_terms(x, ue) for (x, _), ue in zip(batches, u)]
            reconstruction, kl = (torch.cat(t) for t in zip(*terms))
        elbo = (reconstruction - kl).mean()
        loss = self.regularized(-elbo)
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for optimizer in optimizers:
            optimizer.step()
        return {
            "loss": loss.item(),
            "elbo": elbo.item(),
            "reconstruction": reconstruction.mean().item(),
            "kl": kl.mean().item(),
        }

    # ------------------------------------------------------------------------------------------------ predicting
    def encode(self, x: torch.Tensor, batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior means and log marginal variances ``log (C C^T)_jj`` of ``q(z | x)``, each
        ``(n, latent_dim)``, for ``x`` ``(n, *input_shape_)`` of any environment (seen in training or not). Eval
        mode, no gradients, ``batch_size`` samples at a time; returned on ``x``'s device."""
        self._check_fitted("encode")
        self._check_inputs(x, f"{type(self).__name__}.encode")
        param = next(self.modules_.parameters())
        means, logvars = [], []
        with evaluating(self.net_, self.modules_):
            for chunk in x.split(batch_size):
                mu, logvar, offdiag = self._posterior(chunk.to(param.device, param.dtype))
                if offdiag is not None:
                    rows, _ = torch.tril_indices(self.latent_dim, self.latent_dim, -1, device=mu.device)
                    extra = mu.new_zeros(mu.shape).index_add_(1, rows, offdiag**2)
                    logvar = torch.log(logvar.exp() + extra)
                means.append(mu.to(x.device))
                logvars.append(logvar.to(x.device))
        if not means:
            empty = x.new_empty((0, self.latent_dim))
            return empty, empty.clone()
        return torch.cat(means), torch.cat(logvars)

    def predict(self, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """The learned latents: posterior means ``mu(x)`` ``(n, latent_dim)`` (see :meth:`encode`)."""
        return self.encode(x, batch_size)[0]
