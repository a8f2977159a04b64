"""Switch a whole model to its deploy form."""


def switch_to_deploy(model):
    """Call ``switch_to_deploy()`` on the outermost (sub)modules that have it
    (backbones, heads: BN folding, fused convs). Returns their class names;
    empty if the model has no deploy form."""
    if callable(getattr(model, 'switch_to_deploy', None)):
        model.switch_to_deploy()
        return [type(model).__name__]
    done = []
    for child in model.children():
        done += switch_to_deploy(child)
    return done
