"""slas"""
