"""The vault's gRPC edge: servicers that translate messages to domain calls, the server
assembly, the caller's identity, revocation and the authorization table. Nothing below this
package imports it.
"""
