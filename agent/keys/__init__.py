"""Key material: ``keyfile`` (key files and the key hierarchy), ``escrow`` (passphrase-wrapped
copies and paper recovery sheets).
"""
