PYTHON ?= python
export PYTHON
# torch's OpenMP threads spin-wait by default and stall 10-50x when the
# cores are shared (measured here); passive waiting avoids that.
OMP_WAIT_POLICY ?= PASSIVE
export OMP_WAIT_POLICY

.PHONY: install mmcv-ext-remove demo test test-fast

# Installs the stack into the active Python (idempotent; see README).
# MMCV=auto keeps a working compiled mmcv, else installs mmcv-lite with the
# torchvision stand-in for its ops; MMCV=full builds mmcv's ops; MMCV=lite.
MMCV ?= auto
install:
	MMCV=$(MMCV) bash tools/misc/install_stack.sh

# Removes the torchvision stand-in (only it) from the installed mmcv.
mmcv-ext-remove:
	$(PYTHON) tools/misc/mmcv_ext_torchvision.py --remove

# The main job: toy data, Mask R-CNN + Semantic FPN (SHViT-S1 by default;
# FAMILY=ga_cswin for GA-CSWin-T) trained and tested on CPU, summary with
# bbox_mAP / segm_mAP / mIoU.
FAMILY ?= shvit
demo: install
	$(PYTHON) tools/run_demo.py --family $(FAMILY)

# The whole test suite (slow end-to-end tests included).
test: install
	$(PYTHON) -m pytest tests -v -rs --durations=15

# Without the slow end-to-end tests.
test-fast: install
	$(PYTHON) -m pytest tests -m "not slow" -rs
